"""Subnet arithmetic with the ipaddress module."""
import doctest
import ipaddress
import sys

HOSTS = ["10.1.2.3", "10.1.3.200", "192.168.0.17", "10.1.255.1", "172.16.5.4", "10.2.0.1"]


def describe(cidr):
    """Network, broadcast and usable hosts of an IPv4 network.

    >>> describe("192.168.1.0/26")
    ('192.168.1.0', '192.168.1.63', 62)
    """
    net = ipaddress.ip_network(cidr)
    return str(net.network_address), str(net.broadcast_address), max(net.num_addresses - 2, 0)


def split(cidr, new_prefix):
    """Subnets of a network at a longer prefix.

    >>> split("10.0.0.0/24", 26)
    ['10.0.0.0/26', '10.0.0.64/26', '10.0.0.128/26', '10.0.0.192/26']
    """
    return [str(s) for s in ipaddress.ip_network(cidr).subnets(new_prefix=new_prefix)]


def members(cidr, hosts):
    """Hosts that fall inside cidr.

    >>> members("10.1.0.0/16", ["10.1.9.9", "10.2.0.1"])
    ['10.1.9.9']
    """
    net = ipaddress.ip_network(cidr)
    return [h for h in hosts if ipaddress.ip_address(h) in net]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(describe("10.1.0.0/16"))
    print(members("10.1.0.0/16", HOSTS))
    print(ipaddress.collapse_addresses(map(ipaddress.ip_network, split("10.0.0.0/24", 26))).__next__())
