package protect

// ResolveUser turns a login name or numeric uid into a uid, with the errors --protect=user:
// gives (lookup nil: os/user). --budget=user: resolves names the same way.
func ResolveUser(name string, lookup func(string) (uint64, error)) (uint64, error) {
	return resolveUser(name, lookup)
}

// HasMeta reports whether a glob has unquoted wildcards (*, ? or [).
func HasMeta(pat string) bool { return hasMeta(pat) }
