"""3D models and point clouds: masters, analysis, web derivatives, thumbnails,
paradata and quality reports ([docs/3d.md](../../docs/3d.md))."""
