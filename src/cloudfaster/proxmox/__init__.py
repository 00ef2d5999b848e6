"""Proxmox VE: a typed async client over proxmoxer, the hypervisor seam, and an in-memory fake."""
