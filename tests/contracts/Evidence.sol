// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Evidence: a registry of evidence files for an arbitration chain.
/// Anyone may submit the hash of a file with a description; the three parties
/// named at deployment (for example a bank, an arbitration court and a notary)
/// each sign it at most once, and it is confirmed once 2 of the 3 have signed.
/// The file itself stays off chain; its hash proves what was submitted and when.
contract Evidence {
    enum Status {
        Unknown,    // never submitted
        Submitted,  // submitted, fewer than THRESHOLD signatures
        Confirmed   // THRESHOLD or more signatures
    }

    struct Record {
        address submitter;
        uint64 submittedAt;  // block timestamp
        uint8 signatures;
        bool confirmed;
        string description;
    }

    uint8 public constant THRESHOLD = 2;

    address public immutable bank;
    address public immutable court;
    address public immutable notary;

    mapping(bytes32 => Record) private records;
    mapping(bytes32 => mapping(address => bool)) public hasSigned;

    event EvidenceSubmitted(bytes32 indexed fileHash, address indexed submitter, string description);
    event EvidenceSigned(bytes32 indexed fileHash, address indexed party, uint8 signatures);
    event EvidenceConfirmed(bytes32 indexed fileHash, uint8 signatures);

    constructor(address bank_, address court_, address notary_) {
        require(bank_ != address(0) && court_ != address(0) && notary_ != address(0),
            "zero address party");
        require(bank_ != court_ && bank_ != notary_ && court_ != notary_, "parties must differ");
        bank = bank_;
        court = court_;
        notary = notary_;
    }

    function isParty(address who) public view returns (bool) {
        return who == bank || who == court || who == notary;
    }

    function submit(bytes32 fileHash, string calldata description) external {
        require(fileHash != bytes32(0), "empty hash");
        Record storage r = records[fileHash];
        require(r.submitter == address(0), "already submitted");
        r.submitter = msg.sender;
        r.submittedAt = uint64(block.timestamp);
        r.description = description;
        emit EvidenceSubmitted(fileHash, msg.sender, description);
    }

    /// A party's signature. The record is confirmed by the THRESHOLD-th
    /// signature (EvidenceConfirmed is emitted once); a later signature by the
    /// remaining party is still counted.
    function sign(bytes32 fileHash) external {
        require(isParty(msg.sender), "not a party");
        Record storage r = records[fileHash];
        require(r.submitter != address(0), "unknown evidence");
        require(!hasSigned[fileHash][msg.sender], "already signed");
        hasSigned[fileHash][msg.sender] = true;
        uint8 n = r.signatures + 1;
        r.signatures = n;
        emit EvidenceSigned(fileHash, msg.sender, n);
        if (n == THRESHOLD) {
            r.confirmed = true;
            emit EvidenceConfirmed(fileHash, n);
        }
    }

    function status(bytes32 fileHash) external view returns (Status) {
        Record storage r = records[fileHash];
        if (r.submitter == address(0)) return Status.Unknown;
        return r.confirmed ? Status.Confirmed : Status.Submitted;
    }

    function signatureCount(bytes32 fileHash) external view returns (uint8) {
        return records[fileHash].signatures;
    }

    function isConfirmed(bytes32 fileHash) external view returns (bool) {
        return records[fileHash].confirmed;
    }

    /// The whole record; reverts for a hash never submitted.
    function getEvidence(bytes32 fileHash) external view returns (address submitter,
        uint64 submittedAt, uint8 signatures, bool confirmed, string memory description) {
        Record storage r = records[fileHash];
        require(r.submitter != address(0), "unknown evidence");
        return (r.submitter, r.submittedAt, r.signatures, r.confirmed, r.description);
    }
}
