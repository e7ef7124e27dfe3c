"""Convert lengths, masses and temperatures between units."""
import doctest
import sys

LENGTH = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0,
          "in": 0.0254, "ft": 0.3048, "yd": 0.9144, "mi": 1609.344}
MASS = {"g": 0.001, "kg": 1.0, "oz": 0.028349523125, "lb": 0.45359237}


def convert(value, src, dst):
    """Convert value between two units of the same kind.

    >>> round(convert(1, "mi", "km"), 4)
    1.6093
    >>> round(convert(16, "oz", "lb"), 6)
    1.0
    >>> convert(1, "kg", "km")
    Traceback (most recent call last):
    ...
    ValueError: cannot convert kg to km
    """
    for table in (LENGTH, MASS):
        if src in table and dst in table:
            return value * table[src] / table[dst]
    raise ValueError(f"cannot convert {src} to {dst}")


def temperature(value, src, dst):
    """Celsius, Fahrenheit and Kelvin.

    >>> temperature(100, "C", "F")
    212.0
    >>> round(temperature(0, "K", "C"), 2)
    -273.15
    """
    to_c = {"C": lambda v: v, "F": lambda v: (v - 32) * 5 / 9, "K": lambda v: v - 273.15}
    from_c = {"C": lambda v: v, "F": lambda v: v * 9 / 5 + 32, "K": lambda v: v + 273.15}
    return from_c[dst](to_c[src](value))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(f"marathon: {convert(42.195, 'km', 'mi'):.2f} mi")
    print(f"body temp: {temperature(98.6, 'F', 'C'):.1f} C")
    print(f"6 ft 2 in = {convert(6, 'ft', 'cm') + convert(2, 'in', 'cm'):.1f} cm")
