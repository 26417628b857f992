"""Django app for upload-and-denoise; the numerical core lives in denoiser.reucid."""
