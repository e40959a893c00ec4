"""The HTTP vocabulary shared by ``server`` and ``client``: paths, headers, media types, and the
problem ``code`` ⇄ error class table (distribution's ``api/v2`` + ``errcode`` idea)."""
