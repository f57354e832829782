"""Privacy: keyed pseudonyms and k-anonymity suppression."""
