package s3

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/memenow/memenow-storage"
)

// The janitor's capabilities: listing multipart uploads under the prefix
// and telling whether the prefix holds anything.

var (
	_ storage.MultipartLister = (*Store)(nil)
	_ storage.DataChecker     = (*Store)(nil)
)

// ListMultipart calls fn for each multipart upload under the store's prefix
// initiated before startedBefore, page by page (ListMultipartUploads), until
// fn returns false. S3 does not list an upload's metadata, so UploadID is
// empty; Key is relative to the prefix. Errors: CodeStorage, or ctx's error.
func (s *Store) ListMultipart(ctx context.Context, startedBefore time.Time, fn func(storage.Multipart) bool) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return storageErr(err)
		}
		for _, u := range out.Uploads {
			key, ok := strings.CutPrefix(aws.ToString(u.Key), s.prefix)
			started := aws.ToTime(u.Initiated)
			if !ok || key == "" || u.UploadId == nil || !started.Before(startedBefore) {
				continue
			}
			if !fn(storage.Multipart{Handle: *u.UploadId, Key: key, Started: started}) {
				return nil
			}
		}
		if !aws.ToBool(out.IsTruncated) || (out.NextKeyMarker == nil && out.NextUploadIdMarker == nil) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// HoldsData reports whether any object or multipart upload exists under the
// store's prefix, with one listing of at most one entry of each. Errors:
// CodeStorage.
func (s *Store) HoldsData(ctx context.Context) (bool, error) {
	objs, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, storageErr(err)
	}
	if len(objs.Contents) > 0 {
		return true, nil
	}
	ups, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix), MaxUploads: aws.Int32(1)})
	if err != nil {
		return false, storageErr(err)
	}
	return len(ups.Uploads) > 0, nil
}
