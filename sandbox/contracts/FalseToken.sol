// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./SandboxToken.sol";

/// @title FalseToken — hostile: `transfer`/`transferFrom` return false without reverting.
/// @notice The transaction succeeds (receipt status 1) yet nothing moves and no
/// Transfer event is emitted — a wallet that trusts the receipt alone is fooled.
contract FalseToken is SandboxToken {
    constructor() SandboxToken("False Token", "FALSE", 18) {}

    function transfer(address, uint256) public pure override returns (bool) {
        return false;
    }

    function transferFrom(address, address, uint256) public pure override returns (bool) {
        return false;
    }
}
