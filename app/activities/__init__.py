"""A center's programme: activities and courses people sign up for, check in
to and rate; the figures the center is measured by (docs/ARCHITECTURE.md,
"Activities")."""
