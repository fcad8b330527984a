using System.Net;
using System.Net.Sockets;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>Free loopback ports, so a test's servers never collide with a developer's running silo or Redis.</summary>
public static class LocalPorts
{
    /// <summary>A port the operating system just handed out (free now; the caller binds it right away).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// <paramref name="count"/> silo instance numbers from <paramref name="first"/> up whose three ports (silo 11111 + N,
    /// gateway 30000 + N, web 5080 + N) are all free. Numbers far from 0 keep clear of the default local cluster.
    /// </summary>
    public static int[] FreeSiloInstances(int count, int first = 40)
    {
        var found = new List<int>();
        for (var n = first; n < 1000 && found.Count < count; n++)
        {
            if (SiloProcess.PortsOf(n).All(IsFree))
            {
                found.Add(n);
            }
        }

        return found.Count == count ? [.. found] : throw new InvalidOperationException($"Found only {found.Count} free silo instances from {first}.");
    }
}
