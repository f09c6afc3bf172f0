"""Merkana fulfilment API (seed 004): we are the fulfilment centre it pushes orders to."""
