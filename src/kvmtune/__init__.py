"""kvmtune: a top-style monitor and tuning console for KVM hosts run by libvirt."""
__version__ = "0.1.0"
