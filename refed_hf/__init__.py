"""refed-hf: build the REFED dataset the Hugging Face way and publish it, versioned, on the Hub."""

__version__ = "0.1.0"
