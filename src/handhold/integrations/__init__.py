"""handhold for loops it does not own: the Hugging Face Trainer (``hf``), Lightning
(``lightning``) and other tools' logs (``importer``). Each writes through the Run API."""
