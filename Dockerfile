FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY refcommons ./refcommons
COPY adapters ./adapters
COPY registry ./registry
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["gateway", "serve"]
