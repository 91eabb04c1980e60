"""Stateless torch functions behind the layers: layouts, masks, the fused call and the step loop."""
