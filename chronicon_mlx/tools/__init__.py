"""Commands that are not the product itself: doctor, the model inventory, the benchmark."""
