package jwtverify

import "time"

// Now reads the Verifier's clock (Config.Now, default time.Now). Adapters
// that keep a stream open on the strength of a token compute its remaining
// time as ValidUntil minus Now, so that an injected clock governs the end
// of the stream as it governs Verify.
func (v *Verifier) Now() time.Time { return v.now() }
