"""Training machinery shared by every feed-forward model: crop datasets, a resumable trainer, fp16 export."""
