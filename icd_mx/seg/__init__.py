"""The segmentation stage (paper Tables 7-8): DeepLab-LargeFOV trained on seeds.

- :mod:`.task`: seed dataset, the ignore-aware softmax loss, the engine task.
- :mod:`.predict`: multi-scale + flip inference, optional dense CRF, val scoring.
- :mod:`.submission`: the VOC test-server layout (palette PNGs).
"""
