"""Embedding indexes over table columns and the vector_search table function."""
