package kube

// Needer is implemented by faults and probes that act through the Kubernetes API:
// Permissions lists every permission they need for everything they may do (plan,
// inject and prove, revert, recover; or probe), computed from their spec without
// I/O. `chaos gameday render` builds least-privilege RBAC from it; it must name at
// least what the code's CheckAccess calls ask for.
type Needer interface {
	Permissions() []Permission
}
