"""The reader's training (python -m training.reader.train), its data preparation and its experiments."""
