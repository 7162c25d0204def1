"""The fused apply pass: filter, GTM projection and forest prediction in one read of each brick."""
