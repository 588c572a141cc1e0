"""Earth Engine: queries, S1/S2 pairing, xee reads and asset export."""
