package org.elasticsearch.node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * One real Elasticsearch 8 node in this JVM, its plugins (the Netty HTTP and transport layer)
 * loaded from the classpath, as elasticsearch-cluster-runner does. The class lives in
 * org.elasticsearch.node because the plugin-service hook it overrides is package-private.
 *
 * Usage: java -cp CLASSPATH org.elasticsearch.node.ClasspathNode HOME HTTP_PORT TRANSPORT_PORT
 *            [NODE_NAME SEED_HOSTS [INITIAL_MASTER_NODES]]
 *
 * With three arguments the node is a cluster of its own (single-node discovery). With more it is
 * one node of a cluster: SEED_HOSTS lists every node's transport address, and
 * INITIAL_MASTER_NODES (node names) is given only on the very first start of a new cluster.
 * Lists are comma-separated.
 */
public class ClasspathNode extends Node {

    ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new MockPluginsService(env.settings(), env, plugins);
            }
        }, true));
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]).toAbsolutePath();
        for (String dir : List.of("data", "logs", "config")) {
            Files.createDirectories(home.resolve(dir));
        }
        String nodeName = args.length > 3 ? args[3] : "clearance-es-1";
        LogConfigurator.configureESLogging();
        Settings.Builder builder = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "clearance")
            .put("node.name", nodeName)
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", args[2])
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // a developer's disk may be nearly full; never turn indices read-only for that here
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        if (args.length > 4) {
            builder.putList("discovery.seed_hosts", List.of(args[4].split(",")));
            if (args.length > 5 && !args[5].isEmpty()) {
                builder.putList("cluster.initial_master_nodes", List.of(args[5].split(",")));
            }
        } else {
            builder.put("discovery.type", "single-node");
        }
        Settings settings = builder.build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), home.resolve("config"), () -> nodeName);
        Node node = new ClasspathNode(environment, List.of(Netty4Plugin.class));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }));
        node.start();
        System.out.println("clearance-es: listening on 127.0.0.1:" + args[1]);
        closed.await();
    }
}
