"""Shared geometries for tests (GeoJSON dicts, WGS84 unless named otherwise)."""

ZHENHAI_POINT = (121.64, 29.99)  # Ningbo Zhenhai petrochemical zone, county 330211
HANGZHOU_POINT = (120.17, 30.26)  # Hangzhou city centre, inside Zhejiang
BEIJING_POINT = (116.40, 39.90)  # in China, outside Zhejiang
PARIS_POINT = (2.35, 48.85)  # outside China

BOWTIE = {"type": "Polygon", "coordinates": [[[120.10, 30.20], [120.20, 30.30], [120.20, 30.20],
                                              [120.10, 30.30], [120.10, 30.20]]]}
SQUARE_HZ = {"type": "Polygon", "coordinates": [[[120.150, 30.250], [120.155, 30.250], [120.155, 30.255],
                                                 [120.150, 30.255], [120.150, 30.250]]]}
EMPTY_POLYGON = {"type": "Polygon", "coordinates": []}
