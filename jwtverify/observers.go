package jwtverify

// MultiObserver returns an Observer that forwards every event to each of
// obs in order (nil entries are skipped), for example Prometheus metrics and
// a log observer together. It returns nil when no observer is left, so the
// Verifier does not even read the clock for events nobody receives.
func MultiObserver(obs ...Observer) Observer {
	var list multiObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multiObserver []Observer

func (m multiObserver) ObserveVerify(ev VerifyEvent) {
	for _, o := range m {
		o.ObserveVerify(ev)
	}
}

// MultiDecisionObserver is MultiObserver for adapter decisions.
func MultiDecisionObserver(obs ...DecisionObserver) DecisionObserver {
	var list multiDecisionObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multiDecisionObserver []DecisionObserver

func (m multiDecisionObserver) ObserveDecision(ev DecisionEvent) {
	for _, o := range m {
		o.ObserveDecision(ev)
	}
}
