package chatter

import "github.com/gochatter/gochatter/pkg/sbs"

// The protocol's own modules, as the original defines them.
const (
	hatSchema = `module Hat

Msg = Tuple {
    id: Integer
    first: Integer
    owner: Boolean
    token: Boolean
    last: Boolean
    data: Data
}

Data = Tuple {
    module: Maybe(String)
    type: String
    data: Bytes
}
`
	hatPingSchema = `module HatPing

MsgPing = None

MsgPong = None
`
)

// SBSRepository holds the Hat and HatPing modules, the counterpart of the
// original's chatter.sbs_repo. Merge it into an application's repository
// with sbs.Repo when payloads refer to them; connections do not need it,
// since the envelope has its own codec.
var SBSRepository = sbs.MustRepository(sbs.NamedText("hat.sbs", hatSchema), sbs.NamedText("hat_ping.sbs", hatPingSchema))
