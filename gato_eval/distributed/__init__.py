"""Scale-out evaluation: a run's episodes played on a Ray cluster (`ray_backend`), split into
work items (`work_items`) played by policy replicas (`worker`). Nothing here imports Ray until a
run asks for the ray backend."""
