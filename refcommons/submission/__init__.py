"""The reference commons' imitation of Gen3's submission service (sheepdog): its data dictionary only."""
