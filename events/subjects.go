package events

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// Stream names.
const (
	CmdStream = "CHAT_CMD"
	EvtStream = "CHAT_EVT"
)

// CommandPartitions is how many partitions CHAT_CMD is split into. Each
// partition has one durable consumer, pinned to one validator instance at a
// time, so the commands of one room are decided in the order they were
// appended while different partitions are decided by different instances.
// Changing it reorders nothing already decided, but every gateway and
// validator must agree on it, so it is part of the contract.
const CommandPartitions = 8

// Partition returns the command partition of a key (a room or user id).
func Partition(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % CommandPartitions)
}

// RoomCmdSubject is where commands about a room are appended.
func RoomCmdSubject(room string) string {
	return "chat.cmd." + strconv.Itoa(Partition(room)) + ".room." + room
}

// UserCmdSubject is where commands about a user (not a room) are appended.
func UserCmdSubject(user string) string {
	return "chat.cmd." + strconv.Itoa(Partition(user)) + ".user." + user
}

// PartitionFilter is the subject filter of command partition p.
func PartitionFilter(p int) string { return "chat.cmd." + strconv.Itoa(p) + ".>" }

// RoomSubject holds every fact of one room, in room seq order.
func RoomSubject(room string) string { return "chat.evt.room." + room }

// UserSubject holds the profile facts of one user (registration, profile and
// credential changes). Registration appends with expected last subject
// sequence 0, so a username is taken exactly once.
func UserSubject(user string) string { return "chat.evt.user." + user }

// SessionSubject holds the session facts of one user.
func SessionSubject(user string) string { return "chat.evt.session." + user }

// ReadPosSubject holds the read positions (read.marked) of one user in one
// room, so its last fact is the user's current position there.
func ReadPosSubject(user, room string) string { return "chat.evt.read." + user + "." + room }

// RejectedSubject holds the commands of one user the pipeline refused.
func RejectedSubject(user string) string { return "chat.evt.rejected." + user }

// Subject filters over CHAT_EVT.
const (
	AllRoomFacts    = "chat.evt.room.>"
	AllUserFacts    = "chat.evt.user.>"
	AllSessionFacts = "chat.evt.session.>"
	AllRejections   = "chat.evt.rejected.>"
	AllReadFacts    = "chat.evt.read.>"
)

// ReplySubject is the core NATS subject on which a gateway instance receives
// command outcomes addressed to it (see Outcome).
func ReplySubject(gatewayID string) string { return "chat.reply." + gatewayID }

// Redis channels, relative to the deployment's key prefix.

// RoomChannel carries the live frames of one room.
func RoomChannel(prefix, room string) string { return prefix + "room:" + room }

// RoomEphemeralChannel carries what a room's members see but the log never
// holds: typing and presence updates.
func RoomEphemeralChannel(prefix, room string) string { return prefix + "roomx:" + room }

// UserChannel carries the per-user live messages (rejections, revocations).
func UserChannel(prefix, user string) string { return prefix + "user:" + user }

// RejStream records the refusals of commands. Unlike CHAT_EVT it is not the
// system of record: it is bounded by age and size (RejStreamConfig, ADR 0009),
// so that a flood of refused commands cannot grow the log.
const RejStream = "CHAT_REJ"

// RejSubject holds the refusals of one user's commands, on CHAT_REJ. Logs
// written before CHAT_REJ existed hold them on RejectedSubject of CHAT_EVT,
// and readers keep reading both.
func RejSubject(user string) string { return "chat.rej." + user }

// AllRejSubjects is the subject filter of every refusal on CHAT_REJ.
const AllRejSubjects = "chat.rej.>"

// StreamOf names the stream that holds subject: CHAT_REJ for refusals on
// chat.rej.>, CHAT_EVT for every other fact.
func StreamOf(subject string) string {
	if strings.HasPrefix(subject, "chat.rej.") {
		return RejStream
	}
	return EvtStream
}
