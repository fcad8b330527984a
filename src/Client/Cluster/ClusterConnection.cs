using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace InsideLLMs.Distributed.Client.Cluster;

/// <summary>
/// An Orleans client connected to the cluster through the given gateways, for one verb. Orleans' own logging stays off:
/// the verb's output is the only thing on stdout.
/// </summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    /// <summary>How long to wait for a gateway: a local silo answers in milliseconds; one that is starting, in a second or two.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly IHost _host;

    private ClusterConnection(IHost host, IReadOnlyList<GatewayAddress> gateways)
    {
        _host = host;
        Gateways = gateways;
        Client = host.Services.GetRequiredService<IClusterClient>();
    }

    public IClusterClient Client { get; }

    public IReadOnlyList<GatewayAddress> Gateways { get; }

    /// <exception cref="CliFailureException">No gateway answered within <paramref name="timeout"/>.</exception>
    public static async Task<ClusterConnection> ConnectAsync(
        IReadOnlyList<GatewayAddress> gateways, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(gateways);
        var wait = timeout ?? DefaultTimeout;
        var endpoints = await GatewayList.ToEndPointsAsync(gateways, cancellationToken);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering([.. endpoints]);
            client.Configure<ClusterOptions>(cluster =>
            {
                cluster.ClusterId = Environment.GetEnvironmentVariable("INSIDELLMS_CLUSTER_ID") is { Length: > 0 } id ? id : ClusterNames.ClusterId;
                cluster.ServiceId = Environment.GetEnvironmentVariable("INSIDELLMS_SERVICE_ID") is { Length: > 0 } service ? service : ClusterNames.ServiceId;
            });
        });
        var host = builder.Build();

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        try
        {
            await host.StartAsync(deadline.Token);
            return new ClusterConnection(host, gateways);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OutOfMemoryException)
        {
            host.Dispose();
            throw new CliFailureException(
                $"no silo answers at {string.Join(", ", gateways)} (waited {wait.TotalSeconds:0} s). Start one with 'dotnet run --project src/Silo', " +
                $"or point the client at the cluster with --gateway host:port[,host:port] or {GatewayList.EnvironmentVariable}.", e);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _host.StopAsync(stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or Orleans.Runtime.OrleansException or ObjectDisposedException)
        {
            // leaving anyway: the gateway notices the closed connection
        }

        _host.Dispose();
    }
}
