"""A local Earth Engine emulator: a loopback HTTP server speaking the EE REST v1 API over a GeoTIFF catalog."""
