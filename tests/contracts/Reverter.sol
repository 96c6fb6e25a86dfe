// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Reverter: every way a call can fail, for checking that a node
/// returns the revert data (and ethers decodes it) from eth_call,
/// eth_estimateGas and mined transactions. The state-changing functions bump
/// a counter first, so a revert visibly undoes a write.
contract Reverter {
    /// Custom error: revert data is its 4-byte selector and ABI-encoded arguments.
    error Unauthorized(address caller, uint256 code);

    uint256 public counter;

    /// Error(string) revert data from `revert("...")`.
    function failWithReason() external {
        counter += 1;
        revert("Reverter: reason string");
    }

    function failWithCustomError(uint256 code) external {
        counter += 1;
        revert Unauthorized(msg.sender, code);
    }

    /// Error(string) again, this time through require.
    function failWithRequire() external {
        counter += 1;
        require(false, "Reverter: require failed");
    }

    /// Panic(uint256) revert data: code 0x12, division by zero.
    function failWithPanic(uint256 divisor) external returns (uint256) {
        counter += 1;
        return counter / divisor;
    }

    /// A view that answers x + counter for x != 0 and reverts for 0.
    function viewCheck(uint256 x) external view returns (uint256) {
        require(x != 0, "Reverter: view reverted");
        return x + counter;
    }

    /// Succeeds; the counter shows that only reverted calls were undone.
    function bump() external {
        counter += 1;
    }
}
