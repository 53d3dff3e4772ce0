"""Making data: demonstration data sets and measured reference scores, by rollouts."""
