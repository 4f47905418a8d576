"""Post-hoc analyses over run directories: gradient flow, linear regions, spectra, loss landscapes, the InPCA atlas."""
