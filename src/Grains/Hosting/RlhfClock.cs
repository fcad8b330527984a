namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// The time ranking tasks are created and expire by. Its own type rather than <see cref="TimeProvider"/>, which
/// Orleans itself resolves: tests move this clock without moving the cluster's.
/// </summary>
public class RlhfClock
{
    public virtual DateTimeOffset UtcNow => DateTimeOffset.UtcNow;
}
