package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The janitor: expiry of abandoned uploads, repair of uploads a crash left
// half-way, and removal of multipart uploads that no upload owns.
//
// An upload that gets no chunk for Config.UploadTTL expires: Sweep moves it
// to StatusExpired by compare-and-set (on the store's updated_at, so a chunk
// recorded meanwhile wins), then aborts its multipart upload, which frees
// its bytes; its key is free as soon as it is expired. Chunk and complete
// then answer CodeUploadExpired. Every step is a compare-and-set or
// idempotent, so two janitors never do harm; a lease in the MetaStore also
// keeps them from sweeping at the same time.

// JanitorLease is the name of the MetaStore lease janitors share.
const JanitorLease = "janitor"

// DefaultSweepLimit bounds the uploads one Sweep handles of each kind.
const DefaultSweepLimit = 1000

// expiringStatuses are the states an upload expires from.
var expiringStatuses = []Status{StatusInitiated, StatusInProgress}

// stuckStatuses are the transient states a crash can leave an upload in.
var stuckStatuses = []Status{StatusCompleting, StatusCancelling}

// SweepOptions configures one Sweep.
type SweepOptions struct {
	// Holder names this janitor (one per process) in the MetaStore lease
	// that keeps two janitors from sweeping at once; "" sweeps without
	// taking the lease.
	Holder string
	// Lease is how long the lease is taken for: the sweep gives it up when
	// it ends, and another holder may take it once it has run out (after a
	// crash, say). At least a minute when shorter; a sweep should be
	// bounded by it (its context's deadline).
	Lease time.Duration
	// Limit is the most uploads handled of each kind; DefaultSweepLimit
	// when 0.
	Limit int
	// Orphans also looks for multipart uploads that no open upload owns
	// and aborts those started more than the upload TTL ago. Only object
	// stores with the MultipartLister capability can be searched.
	Orphans bool
}

// SweepReport says what one Sweep did.
type SweepReport struct {
	// Skipped is true when another janitor holds the lease: nothing was done.
	Skipped bool
	// Expired lists the uploads this sweep expired.
	Expired []string
	// Completed and Cancelled list the uploads found stuck in completing or
	// cancelling for longer than the upload TTL that the sweep finished by
	// repeating the complete or the cancel.
	Completed, Cancelled []string
	// Orphans lists the multipart uploads that no open upload owned and
	// that were aborted.
	Orphans []Multipart
	// OrphansSearched says whether the object store could be searched for
	// orphans (it has the MultipartLister capability).
	OrphansSearched bool
	// Errors are the failures of single uploads; the sweep went on past
	// them, and the next one tries again.
	Errors []error
	// AuditDeleted counts the audit rows deleted for being older than
	// Config.AuditRetention.
	AuditDeleted int64
}

// Empty reports whether the sweep changed nothing and met no error.
func (r *SweepReport) Empty() bool {
	return len(r.Expired)+len(r.Completed)+len(r.Cancelled)+len(r.Orphans)+len(r.Errors) == 0 && r.AuditDeleted == 0
}

// uploadTTL returns the upload TTL in effect.
func (s *Service) uploadTTL() time.Duration {
	if s.Config.UploadTTL > 0 {
		return s.Config.UploadTTL
	}
	return DefaultUploadTTL
}

// ExpiresAt returns when u expires if no chunk arrives first: its last
// update plus the upload TTL, while it takes chunks (initiated or in
// progress); the zero time otherwise.
func (s *Service) ExpiresAt(u *Upload) time.Time {
	if !slices.Contains(expiringStatuses, u.Status) {
		return time.Time{}
	}
	return u.UpdatedAt.Add(s.uploadTTL()).UTC()
}

// janitorContext is ctx with the janitor's authority: it acts on every
// upload, as an administrator does.
func janitorContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, janitorKey{}, true) // audit.go: its events' actor
	return ContextWithPrincipal(ctx, &Principal{UserID: "janitor", Admin: true})
}

// Sweep is one pass of the janitor, as of the Service's clock:
//   - uploads initiated or in progress whose last update is older than the
//     upload TTL are expired: compare-and-set to StatusExpired, then their
//     multipart upload is aborted;
//   - uploads in completing or cancelling for longer than the TTL (a crash
//     half-way that no client repeated) are finished by repeating the
//     complete or the cancel;
//   - with o.Orphans, multipart uploads that no open upload owns and that
//     were started more than the TTL ago are aborted (a crash between
//     CreateMultipart and CreateUpload, an expiry whose abort failed);
//   - audit rows older than Config.AuditRetention are deleted.
//
// The error is for the sweep as a whole (the lease or a listing failed);
// failures of single uploads are in the report.
func (s *Service) Sweep(ctx context.Context, o SweepOptions) (*SweepReport, error) {
	now := s.now()
	r := &SweepReport{}
	if o.Holder != "" {
		lease := max(o.Lease, time.Minute)
		ok, err := s.Meta.AcquireLease(ctx, JanitorLease, o.Holder, now, now.Add(lease))
		if err != nil {
			return r, fmt.Errorf("taking the janitor lease: %w", err)
		}
		if !ok {
			r.Skipped = true
			return r, nil
		}
		defer func() {
			// Given up even when ctx ended; a failure only delays the next
			// holder until the lease runs out.
			_ = s.Meta.ReleaseLease(context.WithoutCancel(ctx), JanitorLease, o.Holder)
		}()
	}
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultSweepLimit
	}
	ctx = janitorContext(ctx)
	cutoff := now.Add(-s.uploadTTL())

	stale, err := s.Meta.ListStale(ctx, expiringStatuses, cutoff, limit)
	if err != nil {
		return r, fmt.Errorf("listing uploads to expire: %w", err)
	}
	for _, u := range stale {
		expired, err := s.expire(ctx, u, cutoff, now)
		if expired {
			r.Expired = append(r.Expired, u.ID)
		}
		if err != nil {
			r.Errors = append(r.Errors, err)
		}
	}

	stuck, err := s.Meta.ListStale(ctx, stuckStatuses, cutoff, limit)
	if err != nil {
		return r, fmt.Errorf("listing stuck uploads: %w", err)
	}
	for _, u := range stuck {
		if u.Status == StatusCompleting {
			if _, err := s.Complete(ctx, u.ID); err != nil {
				r.Errors = append(r.Errors, fmt.Errorf("finishing the complete of upload %s: %w", u.ID, err))
				continue
			}
			r.Completed = append(r.Completed, u.ID)
			continue
		}
		if _, err := s.Cancel(ctx, u.ID); err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("finishing the cancel of upload %s: %w", u.ID, err))
			continue
		}
		r.Cancelled = append(r.Cancelled, u.ID)
	}

	if o.Orphans {
		if err := s.sweepOrphans(ctx, r, cutoff, limit); err != nil {
			return r, err
		}
	}
	if keep := s.auditRetention(); keep > 0 {
		n, err := s.Meta.DeleteAuditBefore(ctx, now.Add(-keep))
		r.AuditDeleted = n
		if err != nil {
			return r, fmt.Errorf("deleting audit rows older than %s: %w", keep, err)
		}
	}
	return r, nil
}

// auditRetention returns how long audit rows are kept; 0 is forever.
func (s *Service) auditRetention() time.Duration {
	switch {
	case s.Config.AuditRetention < 0:
		return 0
	case s.Config.AuditRetention == 0:
		return DefaultAuditRetention
	}
	return s.Config.AuditRetention
}

// expire expires u, provided it was last updated before cutoff and is still
// initiated or in progress, and aborts its multipart upload. It reports
// whether this call expired it; losing the compare-and-set (a chunk arrived,
// another janitor was first) is no error.
//
// When the database cannot commit the expiry (a full disk under SQLite,
// say), the multipart upload is aborted first to free its bytes and the
// expiry tried once more: the database must not be what keeps a full disk
// full. Only a chunk arriving in that very moment, after a day of silence,
// could lose its upload's stored chunks to this; the upload then expires at
// the next sweep past its new TTL.
func (s *Service) expire(ctx context.Context, u *Upload, cutoff, now time.Time) (bool, error) {
	ev := s.auditEvent(ctx, AuditExpire, u)
	done, err := s.Meta.Expire(ctx, u.ID, cutoff, now, ev)
	if HasCode(err, CodeDatabase) {
		if aerr := s.Objects.AbortMultipart(ctx, multipartOf(u), u.StoreHandle); aerr == nil {
			done, err = s.Meta.Expire(ctx, u.ID, cutoff, now, ev)
		}
	}
	if HasCode(err, CodeConflict) || HasCode(err, CodeUploadNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("expiring upload %s: %w", u.ID, err)
	}
	if err := s.Objects.AbortMultipart(ctx, multipartOf(done), done.StoreHandle); err != nil {
		return true, fmt.Errorf("aborting the multipart upload of expired upload %s (the orphan sweep tries again): %w", u.ID, err)
	}
	return true, nil
}

// errEnough stops a listing once the sweep's limit is reached.
var errEnough = errors.New("enough orphans for one sweep")

// sweepOrphans aborts up to limit multipart uploads started before cutoff
// that no open upload owns.
func (s *Service) sweepOrphans(ctx context.Context, r *SweepReport, cutoff time.Time, limit int) error {
	lister, ok := s.Objects.(MultipartLister)
	if !ok {
		return nil
	}
	r.OrphansSearched = true
	var candidates []Multipart
	err := lister.ListMultipart(ctx, cutoff, func(m Multipart) bool {
		candidates = append(candidates, m)
		return len(candidates) < 10*limit
	})
	if err != nil {
		return fmt.Errorf("listing multipart uploads: %w", err)
	}
	for _, m := range candidates {
		if len(r.Orphans) >= limit {
			break
		}
		owned, err := s.ownsMultipart(ctx, m)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("looking up the owner of multipart upload %s: %w", m.Handle, err))
			continue
		}
		if owned {
			continue
		}
		info := MultipartInfo{UploadID: m.UploadID, Key: m.Key}
		if err := s.Objects.AbortMultipart(ctx, info, m.Handle); err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("aborting orphaned multipart upload %s: %w", m.Handle, err))
			continue
		}
		r.Orphans = append(r.Orphans, m)
	}
	return nil
}

// ownsMultipart reports whether an open upload owns multipart upload m: an
// upload in OpenStatuses whose handle is m's, found by m's upload id or, when
// the store does not record it, by m's key. A multipart upload at a key
// that does not have ObjectKey's layout is never taken for an orphan.
func (s *Service) ownsMultipart(ctx context.Context, m Multipart) (bool, error) {
	var u *Upload
	var err error
	switch {
	case m.UploadID != "":
		u, err = s.Meta.GetUpload(ctx, m.UploadID)
	case layoutKey(m.Key):
		u, err = s.Meta.GetUploadByKey(ctx, m.Key)
	default:
		// Nothing to match it with, or a key this service never makes (a
		// bucket shared with other programs): leave it alone.
		return true, nil
	}
	if HasCode(err, CodeUploadNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(OpenStatuses, u.Status) && u.StoreHandle == m.Handle, nil
}

// layoutKey reports whether key has ObjectKey's layout:
// {role}/{user_id}/{YYYYMMDD}/{category}/{file_name}.
func layoutKey(key string) bool {
	parts := strings.Split(key, "/")
	if len(parts) != 5 || !ValidKey(key) {
		return false
	}
	if _, ok := ParseRole(parts[0]); !ok || !ValidUserID(parts[1]) {
		return false
	}
	if _, err := time.Parse("20060102", parts[2]); err != nil || len(parts[2]) != 8 {
		return false
	}
	switch parts[3] {
	case "image", "video", "audio", "document", "other":
		return true
	}
	return false
}
