// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import "./SandboxToken.sol";

/// @title FeeOnTransferToken — hostile memecoin that burns 2% of every transfer.
/// @notice The recipient receives `value - fee`; the fee is burned (a Transfer to
/// the zero address and a lower totalSupply). A wallet crediting the sent amount
/// instead of the balance delta over-credits.
contract FeeOnTransferToken is SandboxToken {
    uint256 public constant FEE_BPS = 200;

    constructor() SandboxToken("Fee Meme", "FEEMEME", 18) {}

    function _transfer(address from, address to, uint256 value) internal override {
        require(to != address(0), "ERC20: transfer to zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "ERC20: transfer amount exceeds balance");
        uint256 fee = (value * FEE_BPS) / 10_000;
        unchecked {
            balanceOf[from] = held - value;
            balanceOf[to] += value - fee;
            totalSupply -= fee;
        }
        emit Transfer(from, to, value - fee);
        if (fee != 0) {
            emit Transfer(from, address(0), fee);
        }
    }
}
