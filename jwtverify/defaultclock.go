package jwtverify

// DefaultClock reports whether v reads the system clock (Config.Now
// unset). Then Now is time.Now and a Principal's ValidUntil is an instant
// of the wall clock that every request shares: an adapter that ends
// streams at ValidUntil may arm one timer per expiry instant, for all the
// requests of the tokens that end then, instead of computing ValidUntil
// minus Now for each request. With an injected clock it must compute it
// per request, so that the injected clock governs the end of the stream.
func (v *Verifier) DefaultClock() bool { return v != nil && v.realClock }
