"""Private images in S3: presigned URLs through the HAProxy sidecar, prefix imports."""
