package ledger

// Test helpers shared with the external test package (process_test.go),
// which cannot live here because it imports ledgertest.
var (
	TestEvents     = events
	TestMarshalAll = marshalAll
	TestCtx        = testCtx
)

const TestOrigin = testOrigin
