package storage

import "context"

// Access decisions. Every Service operation asks these, so that each front
// end (the HTTP API today, tus and direct transfers later) gets the same
// rules without copying them.
//
// With auth off (Service.RequireAuth false) a caller without a Principal may
// do everything, as in the original service. With auth on:
//   - a caller without a Principal may only read public files;
//   - an upload belongs to its user: others (but administrators) are told
//     that it does not exist, exactly as for an unknown id;
//   - an upload token acts on its one upload, a share link reads its one file.

// errUnauthenticated is the refusal of an anonymous caller when auth is on.
func errUnauthenticated() error {
	return Errorf(CodeUnauthorized, "a bearer token is required (Authorization: Bearer …)")
}

// uploadNotFound is the one answer for an unknown upload and for an upload
// the caller may not see, so that a refusal reveals nothing.
func uploadNotFound(id string) error {
	return Errorf(CodeUploadNotFound, "upload %s not found", truncate(id, 128))
}

// fileNotFound is the one answer for a missing file and for a file the
// caller may not read.
func fileNotFound() error {
	return Errorf(CodeNotFound, "no file at that key")
}

// mayActOnUpload reports whether p may chunk, complete, cancel or read the
// status of u.
func (s *Service) mayActOnUpload(p *Principal, u *Upload) bool {
	switch {
	case !s.RequireAuth:
		return true
	case p == nil:
		return false
	case p.UploadID != "":
		return p.UploadID == u.ID
	case p.SharedKey != "":
		return false
	case p.Admin:
		return true
	}
	return p.UserID == u.UserID
}

// mayManageFile reports whether p may delete or share the file of u.
func (s *Service) mayManageFile(p *Principal, u *Upload) bool {
	switch {
	case !s.RequireAuth:
		return true
	case !p.isUser():
		return false
	case p.Admin:
		return true
	}
	return p.UserID == u.UserID
}

// mayReadFile reports whether p may download the file of u.
func (s *Service) mayReadFile(p *Principal, u *Upload) bool {
	switch {
	case !s.RequireAuth || u.Visibility == VisibilityPublic:
		return true
	case p == nil:
		return false
	case p.SharedKey != "":
		return p.SharedKey == u.Key
	}
	return s.mayManageFile(p, u)
}

// requireUser returns the caller when it is a user or an administrator
// acting with their own token; with auth off it returns nil and no error.
func (s *Service) requireUser(ctx context.Context) (*Principal, error) {
	p := PrincipalFromContext(ctx)
	if !s.RequireAuth {
		return p, nil
	}
	if p == nil {
		return nil, errUnauthenticated()
	}
	if !p.isUser() {
		return nil, Errorf(CodeForbidden, "this credential is limited to one upload or file; use the user's token")
	}
	return p, nil
}

// upload returns upload id when the caller of ctx may act on it, and
// uploadNotFound otherwise.
func (s *Service) upload(ctx context.Context, id string) (*Upload, error) {
	p := PrincipalFromContext(ctx)
	if s.RequireAuth && p == nil {
		return nil, errUnauthenticated()
	}
	u, err := s.Meta.GetUpload(ctx, id)
	if HasCode(err, CodeUploadNotFound) || (err == nil && !s.mayActOnUpload(p, u)) {
		return nil, uploadNotFound(id)
	}
	return u, err
}
