"""Study-record mappings (Gen3 Aggregate MDS's ``field_mappings``): a member's records → the common study schema.

- ``selectors``: the safe JSONPath subset rules select values with;
- ``value_filters``: coercion to a field's type and the closed set of value filters;
- ``records``: the compiled mapping and how it maps a record (never raising);
- ``compiler``: configured mappings checked and compiled at start-up;
- ``reference``: the default mapping of a reference commons member.
"""
