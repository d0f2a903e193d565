"""`meshsim bench`: what the mesh costs, measured against a baseline in the same run."""
