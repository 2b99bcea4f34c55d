"""Field protocols in front of the operator façade (one package per protocol)."""
