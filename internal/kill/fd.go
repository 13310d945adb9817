package kill

// Descriptor is implemented by handles backed by a real pidfd, for the callers that
// need the descriptor itself (pidfd_getfd for the owner's message). Fake and Inert
// handles do not implement it: their PIDs name no real process.
type Descriptor interface {
	FD() int
}

// FD is the pidfd behind h, or -1 when h is nil or not backed by a real pidfd. The
// descriptor is borrowed: it stays valid only while h is open.
func FD(h Handle) int {
	if d, ok := h.(Descriptor); ok {
		return d.FD()
	}
	return -1
}

// FD implements Descriptor.
func (p *pidfd) FD() int { return p.fd }
