package metastoretest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	storage "github.com/memenow/memenow-storage"
)

// The audit log: rows written with a state change exist if and only if the
// change happened; listing filters, orders and pages; retention deletes.

// auditEvent returns an event of action by actor user about u (nil: none)
// at time at.
func auditEvent(user, action string, u *storage.Upload, at time.Time) storage.AuditEvent {
	e := storage.AuditEvent{Time: at.UTC().Truncate(time.Millisecond), RequestID: "req-" + uuid.NewString()[:8],
		Actor: "user", ActorID: user, ClientIP: "192.0.2.7", Action: action, Outcome: storage.OutcomeOK}
	if u != nil {
		e.UploadID, e.Key, e.Bytes = u.ID, u.Key, u.TotalSize
	}
	return e
}

// userAudit returns every audit row of user, newest first.
func userAudit(t *testing.T, s storage.MetaStore, user string) []storage.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(t.Context(), storage.AuditQuery{UserID: user, Limit: 1000})
	if err != nil {
		t.Fatalf("ListAudit(%s): %v", user, err)
	}
	return es
}

// wantActions checks that user's audit rows are of actions, newest first.
func wantActions(t *testing.T, s storage.MetaStore, user string, actions ...string) []storage.AuditEvent {
	t.Helper()
	es := userAudit(t, s, user)
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.Action
	}
	if fmt.Sprint(got) != fmt.Sprint(actions) {
		t.Errorf("audit rows of %s = %v, want %v", user, got, actions)
	}
	return es
}

// testAuditWithStateChanges: CreateUpload, Transition and Expire write the
// rows they are given exactly when they change the upload; a refused
// compare-and-set, a taken key and a quota refusal write none.
func testAuditWithStateChanges(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	u := newUpload(storage.StatusInitiated)
	user := u.UserID
	base := time.Now().Add(-time.Hour)
	init := auditEvent(user, storage.AuditInit, u, base)
	if err := s.CreateUpload(ctx, u, storage.Quota{}, init); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	es := wantActions(t, s, user, storage.AuditInit)
	if len(es) == 1 {
		got, want := es[0], init
		want.ID = got.ID
		if got != want || got.ID == 0 {
			t.Errorf("the init row reads back as %+v, want %+v with an id", got, want)
		}
	}

	// A taken key and a quota refusal: no upload, no row.
	taken := newUpload(storage.StatusInitiated)
	taken.UserID, taken.Key = user, u.Key
	err := s.CreateUpload(ctx, taken, storage.Quota{}, auditEvent(user, storage.AuditInit, taken, base))
	wantCode(t, "CreateUpload of a taken key", err, storage.CodeKeyTaken)
	over := newUpload(storage.StatusInitiated)
	over.UserID = user
	err = s.CreateUpload(ctx, over, storage.Quota{MaxOpenUploads: 1}, auditEvent(user, storage.AuditInit, over, base))
	wantCode(t, "CreateUpload over the quota", err, storage.CodeTooManyUploads)
	wantActions(t, s, user, storage.AuditInit)
	within := newUpload(storage.StatusInitiated) // a quota that holds: the row is written
	if err := s.CreateUpload(ctx, within, storage.Quota{MaxOpenUploads: 5, MaxOpenBytes: 1 << 40, MaxStoredBytes: 1 << 41},
		auditEvent(within.UserID, storage.AuditInit, within, base)); err != nil {
		t.Fatalf("CreateUpload under a quota: %v", err)
	}
	wantActions(t, s, within.UserID, storage.AuditInit)

	// A refused compare-and-set writes nothing; the one that happens writes
	// its row.
	_, err = s.Transition(ctx, u.ID, []storage.Status{storage.StatusCompleting}, storage.StatusCompleted,
		auditEvent(user, storage.AuditComplete, u, base.Add(time.Second)))
	wantCode(t, "Transition from the wrong state", err, storage.CodeConflict)
	_, err = s.Transition(ctx, "no-such-upload", []storage.Status{storage.StatusInitiated}, storage.StatusCancelled,
		auditEvent(user, storage.AuditCancel, u, base.Add(time.Second)))
	wantCode(t, "Transition of an unknown upload", err, storage.CodeUploadNotFound)
	wantActions(t, s, user, storage.AuditInit)

	transition(t, s, u.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCancelling) // no row given
	if _, err := s.Transition(ctx, u.ID, []storage.Status{storage.StatusCancelling}, storage.StatusCancelled,
		auditEvent(user, storage.AuditCancel, u, base.Add(2*time.Second))); err != nil {
		t.Fatalf("Transition to cancelled: %v", err)
	}
	wantActions(t, s, user, storage.AuditCancel, storage.AuditInit)

	// Expire: refused while fresh, written when it happens.
	idle := createIdle(t, s, storage.StatusInitiated, time.Now().Add(-2*time.Hour))
	idleUser := idle.UserID
	ev := auditEvent("", storage.AuditExpire, idle, base)
	ev.Actor, ev.ActorID = storage.ActorJanitor, idleUser // filed under the owner to find it
	if _, err := s.Expire(ctx, idle.ID, time.Now().Add(-3*time.Hour), time.Now(), ev); !storage.HasCode(err, storage.CodeConflict) {
		t.Errorf("Expire of an upload updated since: got %v, want CodeConflict", err)
	}
	wantActions(t, s, idleUser)
	if _, err := s.Expire(ctx, idle.ID, time.Now().Add(-time.Hour), time.Now(), ev); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	wantActions(t, s, idleUser, storage.AuditExpire)
	if _, err := s.Expire(ctx, idle.ID, time.Now().Add(-time.Hour), time.Now(), ev); err == nil {
		t.Error("a second Expire succeeded")
	}
	wantActions(t, s, idleUser, storage.AuditExpire)
}

// testAuditList: AppendAudit's rows come back newest first (by time, then
// id), filtered by user, action and since, limited, and paged with a
// cursor.
func testAuditList(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	user, other := "audit_"+uuid.NewString()[:8], "audit_"+uuid.NewString()[:8]
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	var events []storage.AuditEvent
	for i := range 5 {
		action := storage.AuditDownload
		if i%2 == 1 {
			action = storage.AuditForbidden
		}
		e := auditEvent(user, action, nil, base.Add(time.Duration(i)*time.Second))
		e.Bytes = int64(i)
		events = append(events, e)
	}
	same := auditEvent(user, storage.AuditDownload, nil, base.Add(4*time.Second)) // the same millisecond as the last
	same.Bytes = 5
	events = append(events, same, auditEvent(other, storage.AuditDownload, nil, base))
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if err := s.AppendAudit(ctx, nil); err != nil {
		t.Errorf("AppendAudit of nothing: %v", err)
	}
	all := userAudit(t, s, user)
	var order []int64
	for _, e := range all {
		order = append(order, e.Bytes)
	}
	if fmt.Sprint(order) != "[5 4 3 2 1 0]" {
		t.Errorf("rows of %s in the order of their bytes = %v, want [5 4 3 2 1 0] (newest first, the later id first at one time)", user, order)
	}
	if len(all) == 6 && !(all[0].ID > all[1].ID) {
		t.Errorf("two rows of one millisecond: ids %d, %d, want descending", all[0].ID, all[1].ID)
	}
	if got := userAudit(t, s, other); len(got) != 1 {
		t.Errorf("rows of the other user = %d, want 1", len(got))
	}

	forbidden, err := s.ListAudit(ctx, storage.AuditQuery{UserID: user, Action: storage.AuditForbidden, Limit: 100})
	if err != nil || len(forbidden) != 2 {
		t.Errorf("forbidden rows of %s: %d, %v; want 2", user, len(forbidden), err)
	}
	since, err := s.ListAudit(ctx, storage.AuditQuery{UserID: user, Since: base.Add(3 * time.Second), Limit: 100})
	if err != nil || len(since) != 3 {
		t.Errorf("rows of %s since +3s: %d, %v; want 3", user, len(since), err)
	}

	// Pages of two, with the cursor of the last row of each.
	var paged []int64
	q := storage.AuditQuery{UserID: user, Limit: 2}
	for range 10 {
		page, err := s.ListAudit(ctx, q)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d rows, limit 2", len(page))
		}
		for _, e := range page {
			paged = append(paged, e.Bytes)
		}
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		q.Before = &storage.AuditCursor{Time: last.Time, ID: last.ID}
	}
	if fmt.Sprint(paged) != "[5 4 3 2 1 0]" {
		t.Errorf("paged rows = %v, want [5 4 3 2 1 0]", paged)
	}
}

// testAuditRetention: DeleteAuditBefore deletes exactly the rows older than
// its time and counts them.
func testAuditRetention(t *testing.T, s storage.MetaStore) {
	ctx := t.Context()
	user := "audit_" + uuid.NewString()[:8]
	// Far in the past, so that rows of other tests are not touched.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().UnixNano()%1e6) * time.Millisecond)
	events := []storage.AuditEvent{
		auditEvent(user, storage.AuditDownload, nil, old.Add(-time.Second)),
		auditEvent(user, storage.AuditDownload, nil, old.Add(-time.Millisecond)),
		auditEvent(user, storage.AuditShare, nil, old),
		auditEvent(user, storage.AuditShare, nil, time.Now()),
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	// Rows of other runs may be as old: count only this user's.
	before := len(userAudit(t, s, user))
	n, err := s.DeleteAuditBefore(ctx, old)
	if err != nil {
		t.Fatalf("DeleteAuditBefore: %v", err)
	}
	if n < 2 {
		t.Errorf("DeleteAuditBefore counted %d rows, want at least 2", n)
	}
	wantActions(t, s, user, storage.AuditShare, storage.AuditShare)
	if before != 4 {
		t.Errorf("rows before the delete = %d, want 4", before)
	}
}
