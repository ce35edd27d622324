"""What an operation is and what it costs: the primitive op kinds (shape and parameter rules),
itemised formulas, the counting conventions, and the same conventions per aten operator.
No torch."""
